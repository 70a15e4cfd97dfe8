drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  i int not null,
  c varchar(64) not null,
  primary key (id),
  key i_idx (i)
) auto_increment = 1;

insert into gh_ost_test (i, c) select seq, md5(seq) from seq_1_to_300;

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
  start transaction;
  insert into gh_ost_test (i, c) select floor(rand() * 1000), md5(rand()) from seq_1_to_25;
  update gh_ost_test set i = i + 1, c = concat('bulk', c) where id % 7 = floor(rand() * 7);
  delete from gh_ost_test where i % 13 = floor(rand() * 13) limit 8;
  commit;
  start transaction;
  update gh_ost_test set c = left(md5(rand()), 10) where id between 50 and 90;
  rollback;
end ;;
delimiter ;
