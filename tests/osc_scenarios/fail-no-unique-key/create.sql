drop table if exists gh_ost_test;
create table gh_ost_test (
  id int not null,
  i int not null,
  key id_idx (id)
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
  insert into gh_ost_test values (1, 1);
end ;;
delimiter ;
