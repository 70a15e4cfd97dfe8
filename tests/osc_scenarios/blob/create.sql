drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  tb tinyblob null,
  b blob null,
  mb mediumblob null,
  vb varbinary(64) null,
  bn binary(8) null,
  tx text null,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (tb, b, mb, vb, bn, tx) select unhex(md5(seq)), unhex(sha2(seq, 512)), repeat(unhex('00ff'), seq * 10), unhex(sha2(seq, 256)), unhex(lpad(hex(seq), 16, '0')), repeat('txt ', seq) from seq_1_to_120;
insert into gh_ost_test (tb, b, mb, vb, bn, tx) values
  (x'', x'00', repeat(x'ff00', 40000), x'0000', x'00', ''),
  (null, null, null, null, null, null),
  (x'5c27220a0d1a', '\\\'"', x'00', x'ff', x'ffffffffffffffff', 'back\\slash');

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
  insert into gh_ost_test values (null, unhex(md5(rand())), unhex(sha2(rand(), 512)), repeat(unhex(md5(rand())), 200), unhex(sha2(rand(), 256)), left(unhex(md5(rand())), 8), uuid());
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set b = concat(b, x'00ff00'), vb = unhex(md5(rand())), bn = x'01' where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
