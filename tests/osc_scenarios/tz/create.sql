set global time_zone = '+03:00';
set session time_zone = '+03:00';
drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  i int not null,
  ts timestamp null,
  dt datetime null,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (i, ts, dt) select seq, '2020-06-01 00:00:00' + interval seq * 7 hour, '2020-06-01 00:00:00' + interval seq * 7 hour from seq_1_to_150;

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
  insert into gh_ost_test (i, ts, dt) values (1, now(), now());
  insert into gh_ost_test (i, ts, dt) values (2, '2026-03-29 02:30:00', '2026-03-29 02:30:00');
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set ts = ts + interval 1 hour, dt = dt - interval 1 hour where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
