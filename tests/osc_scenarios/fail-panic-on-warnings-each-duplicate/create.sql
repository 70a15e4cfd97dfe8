drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  i int not null,
  email varchar(32) not null,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (i, email) select seq, concat('user', seq % 7, '@example.com') from seq_1_to_40;

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

  insert into gh_ost_test (i, email) values (1, concat('new', rand(), '@example.com'));
end ;;
delimiter ;
