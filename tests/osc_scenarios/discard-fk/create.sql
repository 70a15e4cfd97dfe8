drop table if exists gh_ost_test_child;
drop table if exists gh_ost_test;
drop table if exists gh_ost_test_parent;
create table gh_ost_test_parent (id int primary key);
insert into gh_ost_test_parent select seq from seq_1_to_10;
drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  parent_id int not null,
  i int not null,
  primary key (id),
  key parent_idx (parent_id),
  constraint gh_ost_test_fk foreign key (parent_id) references gh_ost_test_parent (id)
) auto_increment = 1;

insert into gh_ost_test (parent_id, i) select 1 + seq % 10, seq from seq_1_to_150;

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
  insert into gh_ost_test (parent_id, i) values (1 + floor(rand() * 10), 1);
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set i = i + 1, parent_id = 1 + floor(rand() * 10) where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
