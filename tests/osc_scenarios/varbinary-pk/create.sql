drop table if exists gh_ost_test;
create table gh_ost_test (
  id varbinary(16) not null,
  i int not null,
  primary key (id)
);

insert into gh_ost_test (id, i) select unhex(md5(seq)), seq from seq_1_to_200;
insert into gh_ost_test (id, i) values (x'00', 0), (x'0000', 0), (x'ff', 0), (x'ffff', 0), (x'41', 0), (x'61', 0), (x'6120', 0);

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
  insert into gh_ost_test values (unhex(md5(rand())), 1);
  insert into gh_ost_test values (substr(unhex(md5(rand())), 1, 3), 2);
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set i = i + 1 where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
