drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  l varchar(64) character set latin1 not null,
  g varchar(64) character set gbk not null,
  u varchar(64) character set utf8mb4 not null,
  a varchar(64) character set ascii not null,
  bin varchar(64) character set binary not null,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (l, g, u, a, bin) select concat('façade ', seq), concat('汉字 ', seq), concat('😀 ', seq), concat('ascii ', seq), concat('b', seq, x'00ff') from seq_1_to_150;

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
  insert into gh_ost_test (l, g, u, a, bin) values (concat('crème ', rand()), concat('中文 ', rand()), concat('🎉 ', rand()), 'plain', x'c3a9');
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set l = concat(l, 'ç'), g = concat(g, '改'), u = concat(u, '𝄞') where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
