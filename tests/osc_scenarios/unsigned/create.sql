drop table if exists gh_ost_test;
create table gh_ost_test (
  id int unsigned auto_increment,
  ti tinyint unsigned not null,
  si smallint unsigned not null,
  mi mediumint unsigned not null,
  i int unsigned not null,
  bi bigint unsigned not null,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (ti, si, mi, i, bi) select 255 - seq, 65535 - seq, 16777215 - seq, 4294967295 - seq, 18446744073709551615 - seq from seq_1_to_150;
insert into gh_ost_test (ti, si, mi, i, bi) values (255, 65535, 16777215, 4294967295, 18446744073709551615), (0, 0, 0, 0, 0), (128, 32768, 8388608, 2147483648, 9223372036854775808);

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
  insert into gh_ost_test values (null, 255, 65535, 16777215, 4294967295, 18446744073709551615);
  insert into gh_ost_test values (null, 128, 32768, 8388608, 2147483648, 9223372036854775808);
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set i = 4294967295 - (i % 7), bi = 18446744073709551615 - (bi % 11) where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
