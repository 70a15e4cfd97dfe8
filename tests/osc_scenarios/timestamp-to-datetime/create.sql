drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  i int not null,
  ts timestamp not null default current_timestamp,
  ts3 timestamp(3) null default null,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (i, ts, ts3) select seq, '2015-03-04 05:06:07' + interval seq hour, '2015-03-04 05:06:07.001' + interval seq minute from seq_1_to_150;

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
  insert into gh_ost_test (i, ts3) values (1, now(3));
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set ts = ts + interval 1 minute, ts3 = null where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
