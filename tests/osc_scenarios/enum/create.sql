drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  i int not null,
  e enum('red', 'green', 'blue', 'orange') null,
  e2 enum('a', 'b', 'c') not null default 'b',
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (i, e, e2) select seq, elt(1 + seq % 5, 'red', 'green', 'blue', 'orange', null), elt(1 + seq % 3, 'a', 'b', 'c') from seq_1_to_150;

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
  insert into gh_ost_test values (null, 1, 'orange', 'c');
  insert into gh_ost_test values (null, 2, null, default);
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set e = elt(1 + floor(rand() * 4), 'red', 'green', 'blue', 'orange'), e2 = 'a' where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
