drop table if exists gh_ost_test;
create table gh_ost_test (
  id int not null,
  i int not null,
  c varchar(32) not null,
  primary key (id),
  unique key c_uidx (c)
);

insert into gh_ost_test (id, i, c) select seq * 10, seq, concat('c', seq) from seq_1_to_200;

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
  set @id := (select id from gh_ost_test order by rand() limit 1);
  set @new := (select max(id) from gh_ost_test) + 1;
  update gh_ost_test set id = @new, i = i + 1 where id = @id;
  set @id := (select id from gh_ost_test order by rand() limit 1);
  set @free := (select min(t.id) - 1 from gh_ost_test t where t.id > 1 and not exists (select 1 from gh_ost_test u where u.id = t.id - 1));
  update ignore gh_ost_test set id = @free where id = @id;
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set c = concat('c', rand()) where id = @id;
end ;;
delimiter ;
