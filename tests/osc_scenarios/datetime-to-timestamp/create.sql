drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  i int not null,
  dt datetime not null,
  dt6 datetime(6) null,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (i, dt, dt6) select seq, '2015-03-04 05:06:07' + interval seq hour, '2015-03-04 05:06:07.000001' + interval seq minute from seq_1_to_150;

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
  insert into gh_ost_test values (null, 1, now(), now(6));
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set dt = dt + interval 1 minute, dt6 = null where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
