drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  b1 bit(1) not null,
  b8 bit(8) null,
  b17 bit(17) not null default b'0',
  b64 bit(64) not null,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (b1, b8, b17, b64) select seq % 2, seq % 256, seq * 300, seq * 1000000007 from seq_1_to_150;
insert into gh_ost_test (b1, b8, b17, b64) values
  (b'1', b'11111111', b'11111111111111111', b'1111111111111111111111111111111111111111111111111111111111111111'),
  (b'0', null, b'0', b'0'), (b'1', b'10000000', b'10000000000000000', b'1000000000000000000000000000000000000000000000000000000000000000');

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
  insert into gh_ost_test values (null, b'1', floor(rand() * 256), floor(rand() * 131072), b'1010101010101010101010101010101010101010101010101010101010101010');
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set b1 = b1 ^ 1, b8 = b8 ^ 255, b64 = b64 ^ 18446744073709551615 where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
