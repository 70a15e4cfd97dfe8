drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  i int null,
  c varchar(32) null,
  t text null,
  b varbinary(16) null,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (i, c, t, b)
  select if(seq % 2, null, seq), elt(1 + seq % 3, null, '', 'x'), elt(1 + seq % 4, '', null, 'NULL', ' '),
         elt(1 + seq % 3, null, '', x'00') from seq_1_to_150;

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
  insert into gh_ost_test values (null, null, null, null, null);
  insert into gh_ost_test values (null, 0, '', '', '');
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set c = if(c is null, '', null), t = if(t = '', null, '') where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
