drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  d1 decimal(10,2) not null,
  d2 decimal(8,4) null,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (d1, d2) select seq * 3.33 - 200, seq / 9 from seq_1_to_150;
insert into gh_ost_test (d1, d2) values (99999999.99, 9999.9999), (-99999999.99, -9999.9999), (0, null);

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
  insert into gh_ost_test values (null, rand() * 10000 - 5000, rand() * 100);
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set d1 = d1 + 0.01, d2 = -d2 where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
