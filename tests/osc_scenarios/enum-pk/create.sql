drop table if exists gh_ost_test;
create table gh_ost_test (
  id int not null,
  e enum('red', 'green', 'blue') not null,
  i int not null,
  primary key (id, e)
);

insert into gh_ost_test (id, e, i) select seq div 3, elt(1 + seq % 3, 'red', 'green', 'blue'), seq from seq_1_to_150;

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
  insert into gh_ost_test values (@n, 'blue', 1), (@n, 'red', 2);
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set i = i + 10 where id = @id and e = 'green';
  update ignore gh_ost_test set e = 'green' where id = @id and e = 'blue';
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del and e = 'red';
end ;;
delimiter ;
