drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  i int not null,
  c1 varchar(32) not null,
  c2 int null,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (i, c1, c2) select seq, concat('c', seq), seq * 2 from seq_1_to_200;

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
  insert into gh_ost_test (i, c1, c2) values (11, 'eleven', 22);
  insert into gh_ost_test (i, c1, c2) values (13, 'thirteen', null);
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set c1 = concat(c1, '+'), c2 = c2 + 1 where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
