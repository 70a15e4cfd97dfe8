drop table if exists gh_ost_test;
create table gh_ost_test (
  a int not null,
  b int not null,
  i int not null,
  unique key ab (a, b)
);

insert into gh_ost_test (a, b, i) select seq div 10, seq % 10, seq from seq_1_to_150;

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

  set @n := (select max(a) from gh_ost_test) + 1;
  insert into gh_ost_test values (@n, 1, 1), (@n, 2, 2);
  set @a := (select a from gh_ost_test order by rand() limit 1);
  update gh_ost_test set i = i + 1 where a = @a;
  set @d := (select a from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where a = @d and b = 1;
end ;;
delimiter ;
