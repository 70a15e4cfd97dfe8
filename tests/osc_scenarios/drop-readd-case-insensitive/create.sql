drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  i int not null default 0,
  c int null,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (i, c) select seq, if(seq % 3, seq, null) from seq_1_to_150;

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
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set i = i + 1 where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
