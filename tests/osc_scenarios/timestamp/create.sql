drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  i int not null,
  ts timestamp not null default current_timestamp on update current_timestamp,
  ts6 timestamp(6) null default null,
  ts0 timestamp null,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (i, ts, ts6, ts0) select seq, '2001-01-01 00:00:00' + interval seq day, '2010-06-15 12:00:00.000001' + interval seq * 13 microsecond, null from seq_1_to_150;
insert into gh_ost_test (i, ts, ts6, ts0) values (0, '1970-01-01 00:00:01', '1970-01-01 00:00:01.000001', '2038-01-19 03:14:07'), (0, '2038-01-19 03:14:07', '2038-01-19 03:14:07.999999', '1970-01-01 00:00:01');

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
  insert into gh_ost_test (i) values (1);
  insert into gh_ost_test (i, ts6) values (2, now(6));
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set i = i + 1 where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
