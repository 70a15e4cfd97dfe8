drop table if exists gh_ost_test;
create table gh_ost_test (
  f float not null,
  i int not null,
  unique key f_uidx (f)
);

insert into gh_ost_test (f, i) select seq / 4, seq from seq_1_to_50;

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
  insert ignore into gh_ost_test values (rand() * 1000, 1);
end ;;
delimiter ;
