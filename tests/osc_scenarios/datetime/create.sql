drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  dt datetime not null,
  dt3 datetime(3) null,
  dt6 datetime(6) null,
  d date null,
  y year null,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (dt, dt3, dt6, d, y) select '2020-02-29 12:34:56' + interval seq hour, '2021-01-01 00:00:00.001' + interval seq second,
  '2021-01-01 00:00:00.000001' + interval seq * 7 microsecond, '1999-12-31' + interval seq day, 1901 + seq from seq_1_to_150;
insert into gh_ost_test (dt, dt3, dt6, d, y) values ('1000-01-01 00:00:00', '1000-01-01 00:00:00.000', '1000-01-01 00:00:00.000000', '1000-01-01', 1901),
  ('9999-12-31 23:59:59', '9999-12-31 23:59:59.999', '9999-12-31 23:59:59.999999', '9999-12-31', 2155),
  ('1970-01-01 00:00:00', '1970-01-01 00:00:00.010', '1970-01-01 00:00:00.000100', '1970-01-01', null);

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
  insert into gh_ost_test values (null, now(), now(3), now(6), curdate(), year(now()));
  insert into gh_ost_test values (null, '2038-01-19 03:14:08', '2000-01-01 00:00:00.009', '2000-01-01 00:00:00.000009', null, null);
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set dt = dt + interval 1 second, dt6 = dt6 + interval 1 microsecond, dt3 = dt3 - interval 1 day where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
