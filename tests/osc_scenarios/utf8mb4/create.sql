drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  c varchar(128) not null,
  t text null,
  primary key (id)
) auto_increment = 1 default charset = utf8mb4 collate utf8mb4_unicode_ci;

insert into gh_ost_test (c, t) select concat(elt(1 + seq % 4, '😀', '𝄞 music', '中文 😎', 'plain'), ' ', seq), repeat('🐬 ', seq % 10) from seq_1_to_150;
insert into gh_ost_test (c, t) values ('𠜎𠜱𠝹', '👩‍👩‍👧‍👦');

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
  insert into gh_ost_test (c, t) values (concat('naïve café ', rand()), 'Größe 🎉');
  insert into gh_ost_test (c, t) values ('', null);
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set c = concat(c, ' é'), t = concat(coalesce(t, ''), ' ü') where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
