drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  i int not null,
  c varchar(64) not null,
  updated_at timestamp(6) not null default current_timestamp(6) on update current_timestamp(6),
  primary key (id),
  key i_idx (i)
) auto_increment = 1;

insert into gh_ost_test (i, c) select seq, md5(seq) from seq_1_to_400;

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
  declare n int default 0;
  while n < 10 do
    insert into gh_ost_test (i, c) values (floor(rand() * 1000), md5(rand()));
    set @id := (select id from gh_ost_test order by rand() limit 1);
    update gh_ost_test set i = i + 1, c = concat('u', md5(rand())) where id = @id;
    update gh_ost_test set i = i - 1 where i between 100 and 103;
    set @del := (select id from gh_ost_test order by rand() limit 1);
    delete from gh_ost_test where id = @del;
    set n = n + 1;
  end while;
end ;;
delimiter ;
