set session sql_mode = concat(@@sql_mode, ',NO_AUTO_VALUE_ON_ZERO');
drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  i int not null,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (id, i) values (0, 100);
insert into gh_ost_test (i) select seq from seq_1_to_150;

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
  update gh_ost_test set i = i + 1 where id = @id or id = 0;
  set @del := (select id from gh_ost_test where id > 0 order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
