-- creating triggers with binlogs on needs SUPER or this (the engine user has no SUPER)
set global log_bin_trust_function_creators = 1;
drop table if exists gh_ost_test_audit;
drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  i int not null,
  c varchar(64) not null,
  hits int not null default 0,
  primary key (id)
) auto_increment = 1;
create table gh_ost_test_audit (
  id int auto_increment primary key,
  test_id int not null,
  action varchar(8) not null
);

insert into gh_ost_test (i, c) select seq, concat('c', seq) from seq_1_to_150;
delimiter ;;
create trigger gh_ost_test_bi before insert on gh_ost_test for each row
begin
  set new.c = upper(new.c);
  set new.hits = new.hits + 1;
end ;;
create trigger gh_ost_test_bu_v2 before update on gh_ost_test for each row
  set new.hits = old.hits + 1 ;;
create trigger gh_ost_test_ad after delete on gh_ost_test for each row
  insert into gh_ost_test_audit (test_id, action) values (old.id, 'delete') ;;
delimiter ;

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
  insert into gh_ost_test (i, c) values (1, concat('lower ', rand()));
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set i = i + 1 where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
