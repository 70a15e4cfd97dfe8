set session sql_mode = 'NO_ENGINE_SUBSTITUTION';
drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  i int not null,
  ts timestamp not null default '0000-00-00 00:00:00',
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (i) select seq from seq_1_to_50;
insert into gh_ost_test (i, ts) values (0, '0000-00-00 00:00:00'), (0, '2020-01-01 00:00:00');

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
end ;;
delimiter ;
