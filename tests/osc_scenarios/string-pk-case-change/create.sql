drop table if exists gh_ost_test;
create table gh_ost_test (
  name varchar(64) not null,
  i int not null,
  primary key (name)
) default charset = utf8mb4 collate utf8mb4_unicode_ci;

insert into gh_ost_test (name, i) select concat(elt(1 + seq % 3, 'alpha', 'Beta', 'gamma'), seq), seq from seq_1_to_200;

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
  set @n := (select name from gh_ost_test order by rand() limit 1);
  update gh_ost_test set name = if(binary name = binary lower(name), upper(name), lower(name)), i = i + 1 where name = @n;
  set @n := (select name from gh_ost_test order by rand() limit 1);
  update gh_ost_test set name = concat(name, ' ') where name = @n and length(name) < 60;
  insert ignore into gh_ost_test values (concat('new', floor(rand() * 100000)), 0);
end ;;
delimiter ;
