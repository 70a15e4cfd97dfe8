drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  iu int unsigned not null,
  bu int unsigned not null,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (iu, bu) select 4294967295 - seq, 2147483648 + seq from seq_1_to_150;

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
  insert into gh_ost_test values (null, 4294967295, 2147483648);
  insert into gh_ost_test values (null, 3000000000, 4000000000);
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set iu = 4294967295 - floor(rand() * 10), bu = 2147483648 + floor(rand() * 10) where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
