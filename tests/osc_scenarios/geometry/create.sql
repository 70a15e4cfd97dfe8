drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  p point not null,
  g geometry null,
  l linestring null,
  pg polygon null,
  mp multipoint null,
  primary key (id),
  spatial key p_idx (p)
) auto_increment = 1;

insert into gh_ost_test (p, g, l, pg, mp) select point(seq, -seq / 3), st_geomfromtext(concat('POINT(', seq, ' ', seq * 2, ')')),
  st_geomfromtext(concat('LINESTRING(0 0, ', seq, ' ', seq, ', 1.5 -2.25)')),
  st_geomfromtext(concat('POLYGON((0 0, ', seq, ' 0, ', seq, ' ', seq, ', 0 0))')),
  st_geomfromtext('MULTIPOINT(1 1, 2 2)') from seq_1_to_120;
insert into gh_ost_test (p, g, l, pg, mp) values (point(0, 0), null, null, null, null),
  (point(-179.999999, 89.123456789), st_geomfromtext('GEOMETRYCOLLECTION(POINT(1 1), LINESTRING(0 0, 1 1))'), null, null, null);

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
  insert into gh_ost_test values (null, point(rand() * 100, rand() * -100), st_geomfromtext('POLYGON((0 0, 10 0, 10 10, 0 10, 0 0), (2 2, 3 2, 3 3, 2 2))'), st_geomfromtext('LINESTRING(1 1, 2 2, 3 3)'), null, null);
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set p = point(x(p) + 1, y(p) - 1), g = st_geomfromtext('POINT(7 7)') where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
