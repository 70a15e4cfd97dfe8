drop table if exists gh_ost_test;
create table gh_ost_test (
  id int not null,
  i int not null,
  c varchar(32) not null,
  primary key (id),
  unique key c_uidx (c)
);

insert into gh_ost_test (id, i, c) select seq, seq, concat('c', seq) from seq_1_to_200;

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
  start transaction;
  delete from gh_ost_test where id = @id;
  insert into gh_ost_test values (@id, -1, concat('re', @id));
  update gh_ost_test set i = i + 1 where id = @id;
  update gh_ost_test set i = i + 1 where id = @id;
  commit;
  set @a := (select id from gh_ost_test order by rand() limit 1);
  set @b := (select id from gh_ost_test where id <> @a order by rand() limit 1);
  start transaction;
  update gh_ost_test set c = concat('tmp', @a) where id = @a;
  update gh_ost_test set c = concat('swap', @a), i = i + 100 where id = @b;
  update gh_ost_test set c = concat('swap', @b) where id = @a;
  commit;
end ;;
delimiter ;
