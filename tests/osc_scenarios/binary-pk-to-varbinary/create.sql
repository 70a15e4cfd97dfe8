drop table if exists gh_ost_test;
create table gh_ost_test (
  id binary(6) not null,
  i int not null,
  primary key (id)
);

insert into gh_ost_test (id, i) select substr(unhex(md5(seq)), 1, 1 + seq % 6), seq from seq_1_to_150 on duplicate key update i = i + 1;
insert ignore into gh_ost_test (id, i) values (x'00', 0), (x'61', 0), (x'6100', 0), (x'ff', 0);

drop event if exists gh_ost_test;
delimiter ;;
create event gh_ost_test
  on schedule every 1 second
  starts current_timestamp
  ends current_timestamp + interval 60 second
  on completion not preserve
  enable
  do
begin

  insert ignore into gh_ost_test values (substr(unhex(md5(rand())), 1, 2), 1);
  insert ignore into gh_ost_test values (substr(unhex(md5(rand())), 1, 3), 2);
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set i = i + 100 where id = @id;
  set @id2 := (select id from gh_ost_test order by rand() limit 1);
  update ignore gh_ost_test set id = substr(unhex(md5(rand())), 1, 2) where id = @id2;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
