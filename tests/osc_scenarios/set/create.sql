drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  i int not null,
  s set('a', 'b', 'c', 'd') null,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (i, s) select seq, make_set(seq % 16, 'a', 'b', 'c', 'd') from seq_1_to_150;
insert into gh_ost_test (i, s) values (0, null), (0, '');

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
  insert into gh_ost_test values (null, 1, 'a,d');
  insert into gh_ost_test values (null, 2, make_set(floor(rand() * 16), 'a', 'b', 'c', 'd'));
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set s = if(s is null or s = '', 'c', concat(s, ',c')) where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
