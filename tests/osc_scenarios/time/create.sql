drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  t time not null,
  t3 time(3) null,
  t6 time(6) null,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (t, t3, t6) select sec_to_time(cast(seq as signed) * 997 - 50000), sec_to_time(seq / 1000), sec_to_time(-cast(seq as signed) / 1000000) from seq_1_to_150;
insert into gh_ost_test (t, t3, t6) values ('-838:59:59', '-838:59:59.000', '-838:59:59.000000'), ('838:59:59', '838:59:59.000', '838:59:59.000000'),
  ('00:00:00', '00:00:00.001', '-00:00:00.000001'), ('-00:00:01', null, null);

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
  insert into gh_ost_test values (null, curtime(), curtime(3), curtime(6));
  insert into gh_ost_test values (null, '-12:34:56', '-00:00:00.5', '100:00:00.000001');
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set t = -t, t6 = t6 + interval 1 microsecond where id = @id and t > '-838:59:59';
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
