drop table if exists gh_ost_test;
create table gh_ost_test (
  id int not null,
  ts timestamp(6) not null default current_timestamp(6),
  i int not null,
  primary key (id, ts)
);

insert into gh_ost_test (id, ts, i) select seq % 20, '2020-01-01 00:00:00.000001' + interval seq * 1001 microsecond, seq from seq_1_to_200;

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
  insert into gh_ost_test (id, i) values (floor(rand() * 20), 1);
  set @id := (select id from gh_ost_test order by rand() limit 1);
  set @ts := (select ts from gh_ost_test where id = @id order by rand() limit 1);
  update gh_ost_test set i = i + 1 where id = @id and ts = @ts;
  set @id := (select id from gh_ost_test order by rand() limit 1);
  set @ts := (select ts from gh_ost_test where id = @id order by rand() limit 1);
  delete from gh_ost_test where id = @id and ts = @ts;
end ;;
delimiter ;
