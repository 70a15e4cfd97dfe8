drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  d1 decimal(10,2) not null,
  d2 decimal(65,30) null,
  d3 decimal(5,0) unsigned not null,
  d4 decimal(18,9) not null default 0,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (d1, d2, d3, d4) select seq * 1.25 - 100, seq / 7, seq, -seq / 3 from seq_1_to_150;
insert into gh_ost_test (d1, d2, d3, d4) values
  (99999999.99, 99999999999999999999999999999999999.999999999999999999999999999999, 99999, 999999999.999999999),
  (-99999999.99, -0.000000000000000000000000000001, 0, -999999999.999999999),
  (0, null, 0, 0.000000001);

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
  insert into gh_ost_test values (null, rand() * 1000, rand() * 1e20, floor(rand() * 99999), -rand());
  insert into gh_ost_test values (null, -0.01, 12345678901234567890123456789012345.123456789012345678901234567890, 1, 0.5);
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set d1 = -d1, d2 = d2 * 3, d4 = d4 + 0.000000001 where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
