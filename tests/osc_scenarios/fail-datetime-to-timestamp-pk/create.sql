drop table if exists gh_ost_test;
create table gh_ost_test (
  id int not null,
  dt datetime not null,
  i int not null,
  primary key (id, dt)
);

insert into gh_ost_test (id, dt, i) select seq, '2015-03-04 05:06:07' + interval seq hour, seq from seq_1_to_50;

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
  insert ignore into gh_ost_test values (floor(rand() * 1000), now(), 1);
end ;;
delimiter ;
