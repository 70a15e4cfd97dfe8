drop table if exists gh_ost_test;
create table gh_ost_test (
  id int not null,
  i int not null,
  primary key (id)
);

insert into gh_ost_test (id, i) select seq, seq from seq_1_to_50;

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

  set @n := (select max(id) from gh_ost_test) + 1;
  insert into gh_ost_test values (@n, @n);
end ;;
delimiter ;
