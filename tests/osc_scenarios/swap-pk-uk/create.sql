drop table if exists gh_ost_test;
create table gh_ost_test (
  id bigint not null auto_increment,
  uk varchar(64) not null,
  i int not null,
  primary key (id),
  unique key uk_uidx (uk)
) auto_increment = 1;

insert into gh_ost_test (uk, i) select md5(seq), seq from seq_1_to_200;

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
  insert into gh_ost_test (uk, i) values (md5(rand()), 1);
  insert into gh_ost_test (uk, i) values (uuid(), 2);
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set i = i + 1, uk = concat('u', md5(rand())) where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
