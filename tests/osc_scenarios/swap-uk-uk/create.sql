drop table if exists gh_ost_test;
create table gh_ost_test (
  id bigint not null,
  i int not null,
  ts timestamp(6) not null default current_timestamp(6),
  unique key id_uidx (id),
  unique key its_uidx (i, ts)
);

insert into gh_ost_test (id, i, ts) select seq, seq % 10, '2020-01-01' + interval seq second from seq_1_to_200;

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
  set @n := (select max(id) from gh_ost_test) + 1;
  insert into gh_ost_test (id, i) values (@n, floor(rand() * 10));
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set i = i + 100 where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
