drop table if exists gh_ost_test;
create table gh_ost_test (
  a int not null,
  b varchar(32) not null,
  e enum('x', 'y', 'z') not null,
  i int not null,
  primary key (a, b, e)
);

insert into gh_ost_test (a, b, e, i) select seq % 7, concat(elt(1 + seq % 3, 'Alpha', 'beta', 'Ärger'), seq), elt(1 + seq % 3, 'x', 'y', 'z'), seq from seq_1_to_200;

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
  insert ignore into gh_ost_test values (floor(rand() * 7), concat('new', floor(rand() * 1000)), 'y', 1);
  set @a := (select a from gh_ost_test order by rand() limit 1);
  set @b := (select b from gh_ost_test where a = @a order by rand() limit 1);
  update gh_ost_test set i = i + 1 where a = @a and b = @b;
  set @a := (select a from gh_ost_test order by rand() limit 1);
  set @b := (select b from gh_ost_test where a = @a order by rand() limit 1);
  delete from gh_ost_test where a = @a and b = @b;
end ;;
delimiter ;
