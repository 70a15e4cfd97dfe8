drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  Val varchar(32) not null,
  u int not null,
  primary key (id),
  unique key u_uidx (u)
) auto_increment = 1;

insert into gh_ost_test (Val, u) select concat('v', seq), seq from seq_1_to_150;

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

  insert into gh_ost_test (Val, u) values (concat('w', rand()), 1000000 + floor(rand() * 1000000));
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set Val = concat(Val, '+') where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
