drop table if exists gh_ost_test;
create table gh_ost_test (
  id int not null,
  s set('d', 'c', 'b', 'a') not null,
  i int not null,
  unique key id_s (id, s)
);

insert into gh_ost_test (id, s, i) select seq div 2, make_set(1 + seq % 15, 'd', 'c', 'b', 'a'), seq from seq_1_to_150;

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
  insert into gh_ost_test values (@n, 'a,d', 1), (@n, 'c,b', 2);
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set i = i + 10 where id = @id;
  update ignore gh_ost_test set s = 'a,b,d' where id = @id limit 1;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
