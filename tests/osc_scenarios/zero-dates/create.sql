set session sql_mode = 'NO_ENGINE_SUBSTITUTION';
drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  i int not null,
  dt datetime not null default '0000-00-00 00:00:00',
  d date null default '0000-00-00',
  ts timestamp not null default '0000-00-00 00:00:00',
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (i, dt, d) select seq, if(seq % 3, '0000-00-00 00:00:00', '2020-01-01 10:00:00'), elt(1 + seq % 4, '0000-00-00', '2020-00-15', '2020-05-00', '2021-02-03') from seq_1_to_150;

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
  insert into gh_ost_test (i, dt, d, ts) values (2, '2020-00-00 00:00:00', '0000-01-01', now());
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set dt = '0000-00-00 00:00:00', d = '2019-00-00', ts = 0 where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
