drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  ti tinyint not null,
  si smallint not null,
  mi mediumint not null,
  i int not null,
  bi bigint not null,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (ti, si, mi, i, bi) select seq % 128, -seq, seq * 1000, -seq * 100000, seq * 10000000000 from seq_1_to_150;
insert into gh_ost_test (ti, si, mi, i, bi) values
  (-128, -32768, -8388608, -2147483648, -9223372036854775808),
  (127, 32767, 8388607, 2147483647, 9223372036854775807),
  (0, 0, 0, 0, 0), (-1, -1, -1, -1, -1);

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
  insert into gh_ost_test values (null, -128, -32768, -8388608, -2147483648, -9223372036854775808);
  insert into gh_ost_test values (null, 127, 32767, 8388607, 2147483647, 9223372036854775807);
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set ti = -ti, si = -si, mi = -mi, i = -i, bi = -bi where id = @id and ti > -128;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
