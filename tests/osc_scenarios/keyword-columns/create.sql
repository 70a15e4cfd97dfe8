drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  `select` int not null,
  `from` varchar(32) not null,
  `order` varchar(32) null,
  `my col` int null,
  `back``tick` int null,
  primary key (id)
) auto_increment = 1 comment = 'it''s a table';

insert into gh_ost_test (`select`, `from`, `order`, `my col`, `back``tick`) select seq, concat('f', seq), 'o', seq, -seq from seq_1_to_150;

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
  insert into gh_ost_test (`select`, `from`, `order`, `my col`, `back``tick`) values (1, 'from', 'order', 2, 3);
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set `from` = concat(`from`, '!'), `my col` = `my col` + 1, `back``tick` = 0 where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
