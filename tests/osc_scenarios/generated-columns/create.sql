drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  a int not null,
  b int not null,
  s int as (a + b) stored,
  v int as (a * b) virtual,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (a, b) select seq, seq % 10 from seq_1_to_200;

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
  insert into gh_ost_test (a, b) values (floor(rand() * 100), 5);
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set a = a + 1, b = b * 2 where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
