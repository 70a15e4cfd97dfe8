drop table if exists gh_ost_test;
create table gh_ost_test (
  id bigint unsigned not null,
  i int not null,
  primary key (id)
);

insert into gh_ost_test (id, i) select 18446744073709551615 - 400 + seq * 2, seq from seq_1_to_150;
insert into gh_ost_test (id, i) select 9223372036854775800 + seq, seq from seq_1_to_20;
insert into gh_ost_test (id, i) values (0, 0), (1, 1), (18446744073709551615, 2);

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
  set @n := (select max(id) from gh_ost_test where id < 18446744073709551615) + 1;
  insert ignore into gh_ost_test values (@n, 7);
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set i = i + 1 where id = @id;
  set @del := (select id from gh_ost_test where id > 9223372036854775807 and id < 18446744073709551615 order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
