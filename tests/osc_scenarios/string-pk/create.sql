drop table if exists gh_ost_test;
create table gh_ost_test (
  name varchar(64) not null,
  i int not null,
  primary key (name)
) default charset = utf8mb4 collate utf8mb4_general_ci;

insert into gh_ost_test (name, i) select concat(elt(1 + seq % 6, 'Zebra', 'apple', 'Äpfel', 'éclair', 'Ωmega', '中'), '-', seq), seq from seq_1_to_200;
insert into gh_ost_test (name, i) values ('', 0), (' lead', 0), ('a\'quote', 0), ('back\\slash', 0);

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
  insert ignore into gh_ost_test values (concat(elt(1 + floor(rand() * 3), 'Ärger', 'zz', 'AA'), rand()), 1);
  set @n := (select name from gh_ost_test order by rand() limit 1);
  update gh_ost_test set i = i + 1 where name = @n;
  set @n := (select name from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where name = @n;
end ;;
delimiter ;
