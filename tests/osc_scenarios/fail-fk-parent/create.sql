drop table if exists gh_ost_test_child;
drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  i int not null,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (i) select seq from seq_1_to_100;
create table gh_ost_test_child (
  id int primary key auto_increment,
  test_id int not null,
  constraint gh_ost_test_child_fk foreign key (test_id) references gh_ost_test (id)
);
insert into gh_ost_test_child (test_id) select seq from seq_1_to_20;

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
