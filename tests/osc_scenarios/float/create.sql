drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  f float not null,
  d double null,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (f, d) select seq / 3, seq * pi() from seq_1_to_150;
insert into gh_ost_test (f, d) values (1.1, 1.1), (-3.25, -1e-300), (3.4e38, 1.7976931348623157e308), (1e-38, 2.2250738585072014e-308), (0, null), (-0.5, 0.1);

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
  insert into gh_ost_test values (null, rand() * 1000, rand() * 1e100);
  insert into gh_ost_test values (null, 0.1, 0.1);
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set f = f * 1.5, d = d / 3 where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
