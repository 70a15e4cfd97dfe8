drop table if exists gh_ost_test;
create table gh_ost_test (
  e enum('red', 'green', 'blue', 'orange') not null,
  id int not null,
  i int not null,
  primary key (e, id)
);

insert into gh_ost_test (e, id, i) select elt(1 + seq % 4, 'red', 'green', 'blue', 'orange'), seq, seq from seq_1_to_150;

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
  insert into gh_ost_test values ('orange', @n, 1), ('red', @n, 2);
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set i = i + 10 where id = @id;
  update ignore gh_ost_test set e = 'blue' where id = @id and e = 'green';
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del and e = 'orange';
end ;;
delimiter ;
