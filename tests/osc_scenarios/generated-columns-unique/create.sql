drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  first_name varchar(40) not null,
  last_name varchar(32) not null,
  full_name varchar(100) as (concat(first_name, ' ', last_name)) stored,
  primary key (id),
  unique key full_name_uidx (full_name)
) auto_increment = 1;

insert into gh_ost_test (first_name, last_name) select concat('first', seq), concat('last', seq) from seq_1_to_200;

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
  insert into gh_ost_test (first_name, last_name) values (uuid(), 'new');
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set last_name = concat('changed', rand()) where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
